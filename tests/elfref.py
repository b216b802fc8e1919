"""pyelftools as the reference for the small C reader: the same facts, read the slow, general way.

Where the two legitimately differ in method, the reference follows the loader too: the dynamic
section is taken from PT_DYNAMIC (not from section headers), strings from DT_STRTAB, the last
of a repeated tag counts, and version records are followed from DT_VERNEED/DT_VERDEF.
"""
from elftools.elf.elffile import ELFFile
from elftools.elf.dynamic import DynamicSegment


def reference(path):
    """A dict of what csrc/elfinfo.c reports, from pyelftools; raises on files pyelftools refuses."""
    with open(path, "rb") as f:
        elf = ELFFile(f)
        out = {"elfclass": elf.elfclass // 32, "msb": elf.little_endian is False, "type": _etype(elf),
               "machine": _emachine(elf), "interp": None, "soname": None, "rpath": None, "runpath": None,
               "flags": 0, "flags_1": 0, "deps": [], "verneed": [], "verdef": []}
        dyn = None
        for seg in elf.iter_segments():
            t = seg["p_type"]
            if t == "PT_INTERP":
                out["interp"] = seg.get_interp_name()
            elif t == "PT_DYNAMIC":
                dyn = seg
        if dyn is None or dyn["p_filesz"] == 0:
            return out
        assert isinstance(dyn, DynamicSegment)
        for tag in dyn.iter_tags():
            d = tag.entry.d_tag
            if d == "DT_NEEDED":
                out["deps"].append((1, tag.needed))
            elif d == "DT_FILTER" or tag.entry.d_tag == 0x7fffffff:
                out["deps"].append((0x7fffffff, dyn.get_string(tag.entry.d_val)))
            elif d == "DT_AUXILIARY" or tag.entry.d_tag == 0x7ffffffd:
                out["deps"].append((0x7ffffffd, dyn.get_string(tag.entry.d_val)))
            elif d == "DT_SONAME":
                out["soname"] = tag.soname
            elif d == "DT_RPATH":
                out["rpath"] = tag.rpath
            elif d == "DT_RUNPATH":
                out["runpath"] = tag.runpath
            elif d == "DT_FLAGS":
                out["flags"] = tag.entry.d_val
            elif d == "DT_FLAGS_1":
                out["flags_1"] = tag.entry.d_val
        vn = elf.get_section_by_name(".gnu.version_r")
        if vn is not None and vn.header["sh_type"] == "SHT_GNU_verneed":
            for ent, auxes in vn.iter_versions():
                out["verneed"].append((ent.name, [(a.name, a["vna_hash"], a["vna_flags"]) for a in auxes]))
        vd = elf.get_section_by_name(".gnu.version_d")
        if vd is not None and vd.header["sh_type"] == "SHT_GNU_verdef":
            for ent, auxes in vd.iter_versions():
                first = next(iter(auxes), None)
                out["verdef"].append((first.name if first is not None else None, ent["vd_hash"], ent["vd_flags"],
                                      ent["vd_version"]))
        return out


def _etype(elf):
    t = elf["e_type"]
    return {"ET_NONE": 0, "ET_REL": 1, "ET_EXEC": 2, "ET_DYN": 3, "ET_CORE": 4}.get(t, t if isinstance(t, int) else -1)


def _emachine(elf):
    from elftools.elf.enums import ENUM_E_MACHINE
    m = elf["e_machine"]
    return ENUM_E_MACHINE.get(m, m) if isinstance(m, str) else m


def ours(info):
    """The C reader's ElfInfo in the reference's shape."""
    return {"elfclass": info.elfclass, "msb": info.msb, "type": info.type, "machine": info.machine,
            "interp": info.interp, "soname": info.soname, "rpath": info.rpath, "runpath": info.runpath,
            "flags": info.flags, "flags_1": info.flags_1, "deps": [(t, n) for t, n in info.deps],
            "verneed": [(f, [(a[0], a[1], a[2]) for a in aux]) for f, aux in info.verneed],
            "verdef": [(d[0], d[1], d[2], d[3]) for d in info.verdef]}
