"""Hardened images: prepare a root filesystem for enforcement, install the shim into it,
verify it, and undo each step exactly.

    rootfs.py   paths inside an image (symlinks resolved inside ROOT, never outside)
    manifest.py what each step changed, written atomically, so it can be undone bit for bit
    ldconf.py   the image's library directories (ld.so.conf with includes, default dirs)
    prepare.py  the mode changes enforcement needs (x where r, never w), and revert
    install.py  shim, /etc/execcheck.conf, /etc/ld.so.preload, systemd drop-ins, and uninstall
"""
