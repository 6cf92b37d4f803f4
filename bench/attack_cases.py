"""The hostile inputs bench.attack replays: links, CSV files, CLI values. Plain data, generated
here so that the attack and its short version in `make test` try the same things.

Each generator takes `quick` (a handful per kind, for tests/test_attack.py) and returns a list
of (label, input) pairs; labels are short and printable (the table shows them).
"""
from __future__ import annotations

from core.config import FIELDS

# Numbers and text that were refused differently in different places, or not at all (issue 15).
BAD_NUMBERS = ("", " ", "nan", "NaN", "inf", "-inf", "1e400", "1e-400", "-0", "-0.0", "0x10", "1_000", "٣", "１",
               "9" * 30, "-1", "1e309", "0.1.2", "1,5", "+", "--1", "1e", "true", "None", "[]", "{}", "١٢٣",
               "99999999999999999999999", "-99999999999999999999999", "1e-320", "٠.٥", "¹", "½")
BAD_TEXT = ("\x1b[31mRED\x1b[0m", "<script>alert(1)</script>", "a" * 30_000, "../../etc/passwd", "\u202eevil",
            "=HYPERLINK(\"https://evil.example\")", "\x00", "line\nbreak", "%00", "{{7*7}}")
MARKUP_NAMES = ('<a href="https://evil.example/x">CLICK ME</a>', '<span style="font-size:90px">BIG</span>',
                "=HYPERLINK(\"https://evil.example\",\"x\")", "\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\",
                "%{customdata}", "<b>bold</b><br>two lines", "&lt;a&gt;")
ISSUE_CNN = {"preset": "none", "dataset": "digits", "model": "cnn", "width": "512", "depth": "2", "seeds": "1",
             "n_samples": "1797", "batch_size": "512", "epochs": "50", "val_fraction": "0.1"}


def _fields(quick: bool) -> list[str]:
    names = [f.name for f in FIELDS if f.name != "data_path"]
    return ["noise", "epochs", "lr", "dataset"] if quick else names


def _values(field: str, quick: bool) -> tuple[str, ...]:
    """Bad numbers for a number field, bad words for a choice; a few of the other kind each."""
    from core.config import FIELD

    numeric = FIELD[field].choices is None and FIELD[field].type is not bool
    if quick:
        return BAD_NUMBERS[:6] + BAD_TEXT[:3] if numeric else BAD_TEXT[:3] + BAD_NUMBERS[:2]
    return BAD_NUMBERS + BAD_TEXT[:3] if numeric else BAD_TEXT + BAD_NUMBERS[:6]


def hostile_links(quick: bool = False, foreign_upload: str = "") -> list[tuple[str, dict[str, str]]]:
    """Query strings a visitor might send: the issue's, then every field with bad values."""
    links: list[tuple[str, dict[str, str]]] = [
        ("issue: wide CNN (memory)", dict(ISSUE_CNN)),
        ("issue: wide CNN epochs=0", {**ISSUE_CNN, "epochs": "0"}),
        ("issue: link name <a href>", {"preset": "none", "epochs": "2", "seeds": "1",
                                        "vA": f"{MARKUP_NAMES[0]}|lr:0.01"}),
        ("issue: link name <span style>", {"preset": "none", "epochs": "2", "seeds": "1",
                                           "vA": f"{MARKUP_NAMES[1]}|lr:0.01"}),
        ("issue: noise -0", {"preset": "none", "noise": "-0", "epochs": "2", "seeds": "1"}),
        ("issue: 64 seeds x 5000 epochs", {"preset": "none", "seeds": "64", "epochs": "5000", "width": "8"}),
        ("issue: 1,200 parameters", {f"p{i}": "1" for i in range(1200)}),
    ]
    if foreign_upload:
        links.append(("issue: another session's upload", {"preset": "none", "dataset": "csv",
                                                          "data": foreign_upload, "epochs": "2"}))
    if quick:
        links = [links[i] for i in (0, 1, 2, 4)] + links[7:]
    for name in _fields(quick):
        for v in _values(name, quick):
            links.append((f"{name}={_short(v)}", {"preset": "none", name: v, "epochs": "2", "seeds": "1"}))
    other = [("preset=../../etc", {"preset": "../../etc/passwd"}), ("data=../../", {"data": "../../etc/passwd"}),
             ("mode=<script>", {"mode": "<script>"}), ("vA=garbage", {"vA": "|||:::,,,"}),
             ("vZ=unknown slot", {"vZ": "x|lr:1"}), ("vA=30 KB", {"vA": "x" * 30_000 + "|lr:0.1"})]
    for name in MARKUP_NAMES[2:] if not quick else MARKUP_NAMES[2:3]:
        other.append((f"vA name {_short(name)}", {"preset": "none", "epochs": "2", "seeds": "1", "vA": f"{name}|lr:0.01"}))
    return links + (other[:2] if quick else other)


def hostile_csv(quick: bool = False) -> list[tuple[str, bytes]]:
    """CSV files: encodings, sizes, cells a spreadsheet would run, numbers read differently."""
    good = b"x1,x2,label\n" + b"".join(f"{i % 7 / 7:.3f},{i % 5 / 5:.3f},{i % 2}\n".encode() for i in range(40))
    rows = good.split(b"\n")[1:-1]
    files = [
        ("utf-16 with BOM", good.decode().encode("utf-16")),
        ("latin-1 label", good.replace(b",1\n", b",caf\xe9\n")),
        ("utf-8 BOM", b"\xef\xbb\xbf" + good),
        ("NUL bytes", good.replace(b",", b"\x00,", 5)),
        ("random binary", bytes(range(256)) * 40),
        ("empty", b""),
        ("header only", b"x1,x2,label\n"),
        ("huge cell", b"x1,x2,label\n" + b"1" * 1_000_000 + b",2,0\n" + b"\n".join(rows) + b"\n"),
        ("over 5 MB", good + b"0.1,0.2,1\n" * 600_000),
        ("formula labels", b"x1,x2,label\n" + b"".join(
            f"{i % 7},{i % 5},{'=HYPERLINK(1)' if i % 2 else '@SUM(A1)'}\n".encode() for i in range(40))),
        ("formula numbers", good.replace(b"0.000,", b"=1+1,", 1)),
        ("NaN cell", good.replace(b"0.000,", b"nan,", 1)),
        ("inf cell", good.replace(b"0.000,", b"inf,", 1)),
        ("1e400 cell", good.replace(b"0.000,", b"1e400,", 1)),
        ("arabic digits", good.replace(b"0.000,", "٣,".encode(), 1)),
        ("fullwidth digits", good.replace(b"0.000,", "１,".encode(), 1)),
        ("1_000 cell", good.replace(b"0.000,", b"1_000,", 1)),
        ("one class", b"x1,x2,label\n" + b"".join(f"{i},{i * 2},0\n".encode() for i in range(40))),
        ("11 classes", b"x1,x2,label\n" + b"".join(f"{i},{i * 2},{i % 11}\n".encode() for i in range(44))),
        ("19 rows", b"x1,x2,label\n" + b"\n".join(rows[:19]) + b"\n"),
        ("20001 rows", b"x1,x2,label\n" + b"0.1,0.2,1\n0.3,0.1,0\n" * 10_001),
        ("4 columns", good.replace(b"\n", b",9\n")),
        ("1 column", b"x\n" + b"1\n" * 40),
        ("CRLF", good.replace(b"\n", b"\r\n")),
        ("quoted newline", b"x1,x2,label\n" + b"\n".join(rows) + b'\n1,2,"a\nb"\n'),
        ("semicolons", good.replace(b",", b";")),
        ("terminal escape label", good.replace(b",1\n", b",\x1b[31mred\n")),
        ("markup label", good.replace(b",1\n", b",<a href=x>y</a>\n")),
        ("30 KB label", good.replace(b",1\n", b"," + b"L" * 30_000 + b"\n", 1)),
    ]
    return [files[i] for i in (0, 4, 7, 9, 11, 14, 17)] if quick else files


def hostile_cli(quick: bool = False) -> list[tuple[str, list[str]]]:
    """`python -m core` argument lists: every flag with bad values, paths that are not files."""
    tiny = ["--epochs", "1", "--seeds", "1", "--n-samples", "50", "--width", "4", "--no-store"]
    cases: list[tuple[str, list[str]]] = []
    for name in _fields(quick):
        flag = "--" + name.replace("_", "-")
        for v in _values(name, quick):
            argv = ["run", *tiny, flag, v]
            cases.append((f"{flag} {_short(v)}", argv))
    cases += [
        ("run --json <folder>", ["run", *tiny, "--json", "{tmp}"]),
        ("run --csv /dev/null/x", ["run", *tiny, "--csv", "/dev/null/x.csv"]),
        ("run --data-path <folder>", ["run", *tiny, "--dataset", "csv", "--data-path", "{tmp}"]),
        ("runs list --limit huge", ["runs", "list", "--store", "{tmp}/s.db", "--limit", "99999999999999999999999"]),
        ("runs list --store /dev/null", ["runs", "list", "--store", "/dev/null"]),
        ("runs list --store <folder>", ["runs", "list", "--store", "{tmp}"]),
        ("runs show <escape>", ["runs", "show", "\x1b[2J", "--store", "{tmp}/s.db"]),
        ("runs export <missing>", ["runs", "export", "nope", "--json", "{tmp}/o.json", "--store", "{tmp}/s.db"]),
        ("--variant <a href> name", ["run", "--preset", "relu-vs-dropout", "--variant", MARKUP_NAMES[0], *tiny]),
    ]
    return cases if not quick else cases[:-9] + cases[-9:-5]


def _short(v: str, n: int = 18) -> str:
    s = v.encode("unicode_escape").decode("ascii")
    return s if len(s) <= n else s[: n - 1] + "…"
