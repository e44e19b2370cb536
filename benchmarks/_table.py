"""The one table format every benchmark prints."""


def print_table(header, rows, title: str | None = None) -> None:
    rows = [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in [list(header), *rows]) for i in range(len(header))]
    if title:
        print(f"\n{title}")
    for r in [list(header), ["-" * w for w in widths], *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
