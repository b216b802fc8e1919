"""Real programs under enforcement, beyond the test programs built here.

A JVM (when a JDK is installed): under `execcheck run --restrict-file` with the libraries it maps
made executable (bind-mounted copies in a private mount namespace), it starts under both faces,
the children it starts through jspawnhelper with a cleared environment carry the shim, and a 0644
JNI library is refused with UnsatisfiedLinkError while the program goes on."""
import shlex
import shutil

from conftest import execcheck_cmd, in_mountns, need, need_check, need_mountns, need_root, run

JAVA_PROGRAM = r"""
import java.io.*;
import java.nio.file.*;
import java.util.*;
public class T {
    public static void main(String[] a) throws Exception {
        if (a[0].equals("maps")) {  // every shared object this JVM maps
            Set<String> seen = new TreeSet<>();
            for (String l : Files.readAllLines(Paths.get("/proc/self/maps"))) {
                int i = l.indexOf('/');
                if (i >= 0 && l.contains(".so")) seen.add(l.substring(i));
            }
            for (String s : seen) System.out.println(s);
            return;
        }
        ProcessBuilder pb = new ProcessBuilder("/usr/bin/env");
        pb.environment().clear();
        Process p = pb.start();
        BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream()));
        String l; int n = 0;
        while ((l = r.readLine()) != null) if (l.startsWith("LD_AUDIT=") || l.startsWith("LD_PRELOAD=")) n++;
        System.out.println("child has the shim in " + n + " variables, status " + p.waitFor());
        try {
            System.load(a[1]);
            System.out.println("loaded the 0644 library");
        } catch (UnsatisfiedLinkError e) {
            System.out.println("refused: UnsatisfiedLinkError");
        }
        System.out.println("end");
    }
}
"""


def test_a_jvm_under_enforcement(tmp_path):
    java, javac = shutil.which("java"), shutil.which("javac")
    need(bool(java and javac), "needs a JDK (java and javac)")
    need_root()
    need_mountns()
    need_check()
    (tmp_path / "T.java").write_text(JAVA_PROGRAM)
    r = run([javac, "-d", str(tmp_path), str(tmp_path / "T.java")], timeout=300)
    assert r.returncode == 0, r.stderr
    maps = run([java, "-cp", str(tmp_path), "T", "maps"], timeout=120)
    assert maps.returncode == 0, maps.stderr
    mapped = [l for l in maps.stdout.splitlines() if l.startswith("/")]
    assert any(l.endswith("/libjvm.so") for l in mapped), mapped
    jni = tmp_path / "scratch-src" / "libcopy644.so"
    jni.parent.mkdir()
    shutil.copy(next(l for l in mapped if l.endswith("/libjava.so")), jni)
    jni.chmod(0o644)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    q = shlex.quote
    lines = ["mount -t tmpfs -o mode=0700 tmpfs %s" % q(str(scratch))]
    for i, lib in enumerate(mapped):  # executable copies of what the JVM maps, bound over the originals
        lines += ["cp %s %s/%d && chmod a+x %s/%d" % (q(lib), q(str(scratch)), i, q(str(scratch)), i),
                  "mount --bind %s/%d %s" % (q(str(scratch)), i, q(lib))]
    lines.append(" ".join(q(x) for x in execcheck_cmd() + ["run", "--restrict-file", "--", java, "-cp", str(tmp_path),
                                                          "T", "run", str(jni)]))
    r = in_mountns("\n".join(lines), timeout=300)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert r.stdout.splitlines() == ["child has the shim in 2 variables, status 0", "refused: UnsatisfiedLinkError",
                                     "end"], (r.stdout, r.stderr)
    assert "execcheck: refused to load %s: x-bit" % jni in r.stderr, r.stderr
