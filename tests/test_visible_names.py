"""One spelling of a hostile name, the shim's (csrc/text.c, ec_text_visible) and the command's
(output.printable calls it): what a terminal would act on, show as nothing or as another
character, or reorder the line around, is escaped; every other character prints as itself."""
import unicodedata

import pytest

from execcheck.commands.output import printable

# Python's str.isprintable() is false for these categories (and the ASCII controls): the ones a
# name must not carry raw onto a terminal. Unassigned code points (Cn) print as themselves
# (a box): the table cannot know what a later Unicode assigns, so they are left out here, but
# for the noncharacters, which are escaped.
UNPRINTABLE = {"Cc", "Cf", "Cs", "Co", "Zl", "Zp", "Zs"}


def noncharacter(cp):
    return (cp & 0xFFFE) == 0xFFFE or 0xFDD0 <= cp <= 0xFDEF


def test_every_character_is_escaped_exactly_when_it_is_not_printable():
    """Every assigned code point of this Python's Unicode database (and each noncharacter): the
    shim's table escapes it as \\uXXXX or \\UXXXXXXXX if and only if Python calls it unprintable
    (ASCII: only the controls and DEL, as \\xNN; the backslash doubled). Each wrong one is named."""
    wrong = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue  # no character: a lone surrogate (below)
        ch = chr(cp)
        cat = unicodedata.category(ch)
        if cat == "Cn" and not noncharacter(cp):
            continue
        if cp == 0x20 or (cp > 0x20 and cp < 0x7F and ch != "\\"):
            want = ch
        elif ch == "\\":
            want = "\\\\"
        elif cp < 0x80:
            want = "\\x%02x" % cp
        elif cat in UNPRINTABLE or noncharacter(cp):
            want = "\\u%04x" % cp if cp <= 0xFFFF else "\\U%08x" % cp
        else:
            want = ch
        if printable(ch) != want:
            wrong.append("U+%04X %s: %r, not %r" % (cp, cat, printable(ch), want))
    assert wrong == [], "%d wrong (Unicode %s), the first: %s" % (len(wrong), unicodedata.unidata_version, wrong[:20])


@pytest.mark.parametrize("name, shown", [
    ("", "''"),
    ("plain/name.so", "plain/name.so"),
    ("a\nb", "a\\x0ab"),
    ("a\\x0ab", "a\\\\x0ab"),  # the text that spelled a newline: apart from it
    ("\x00", "\\x00"),  # a NUL (a JSON record can hold one): not the end of the name
    ("raw\udcff\udcc3", "raw\\xff\\xc3"),  # bytes that are not UTF-8 (surrogateescape)
    ("\ud800", "\\xed\\xa0\\x80"),  # a lone surrogate a JSON record spelled: bytes, not UTF-8
    ("jérôme/日本/ü", "jérôme/日本/ü"),
    ("rlo\u202eos.py", "rlo\\u202eos.py"),
    ("tag\U000E0041", "tag\\U000e0041"),
    ("csi\u009b31m", "csi\\u009b31m"),
])
def test_names(name, shown):
    assert printable(name) == shown


def test_a_long_name_is_whole():
    """4 bytes of output for each byte of input is the most any escape takes: nothing is cut."""
    name = "\x01" * 5000 + "\U000E0041" * 1000 + "\u00a0" * 1000
    assert printable(name) == "\\x01" * 5000 + "\\U000e0041" * 1000 + "\\u00a0" * 1000


def test_a_terminal_that_is_not_utf8_gets_every_byte_from_0x80_up_as_bytes():
    """ascii (the command under LC_ALL=C, whose names are their bytes): é is \\xc3\\xa9, not é."""
    from execcheck._native import ffi, lib
    data = "café\u202e\\".encode()
    out = ffi.new("char[]", 4 * len(data) + 1)
    assert ffi.string(out, lib.ec_text_visible(data, len(data), 1, out, len(out))) == b"caf\\xc3\\xa9\\xe2\\x80\\xae\\\\"
    assert ffi.string(out, lib.ec_text_visible(data, len(data), 0, out, len(out))) == "café\\u202e\\\\".encode()
