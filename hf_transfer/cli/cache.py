"""``hf-transfer cache [list|clear] [--older-than DAYS]``: the tokenization cache and dequantized checkpoints."""

from __future__ import annotations


def add_parser(sub) -> None:
    cache = sub.add_parser("cache", help="the tokenization cache: size and entries, or clear it")
    cache.add_argument("action", nargs="?", choices=["list", "clear"], default="list")
    cache.add_argument(
        "--older-than",
        "--older_than",
        dest="older_than",
        type=float,
        metavar="DAYS",
        help="with clear: only entries not used for this many days",
    )


def run(args, extra, argv) -> None:
    from hf_transfer.base.tables import format_table
    from hf_transfer.data.cache import (
        check_age,
        clear,
        clear_dequantized,
        dequantized_dir,
        dequantized_entries,
        entries,
        human,
        leftovers,
        tokenization_cache_dir,
        total_bytes,
    )

    folder = tokenization_cache_dir(create=False)
    if args.action == "clear":
        check_age(args.older_than)
        removed, freed, spared = clear(args.older_than, folder)
        kept = len(entries(folder))
        print(f"Removed {removed} files ({human(freed)}) from {folder}; {kept} cached splits kept.")
        if spared:
            print(
                f"A run is tokenizing into this cache right now: {spared} files it may be writing or reading (used in "
                "the last hour) were left alone."
            )
        removed, freed = clear_dequantized(args.older_than)
        kept = len(dequantized_entries())
        if removed or kept:
            print(f"Removed {removed} dequantized checkpoints ({human(freed)}) from {dequantized_dir()}; {kept} kept.")
        return
    found = entries(folder)
    print(f"Tokenization cache: {folder} ({human(total_bytes(folder))}, {len(found)} tokenized splits)")
    if found:
        import datetime

        rows = [
            [
                human(e.bytes),
                datetime.datetime.fromtimestamp(e.modified).strftime("%Y-%m-%d %H:%M"),
                e.about.get("rows", "?"),
                e.label,
            ]
            for e in found
        ]
        print(format_table(["size", "last used", "rows", "what"], rows))
    stale = leftovers(folder)
    if stale:
        print(f"{len(stale)} unfinished writes (interrupted runs; never loaded): hf-transfer cache clear removes them.")
    converted = dequantized_entries()
    if converted:
        print(
            f"Dequantized GGUF checkpoints: {dequantized_dir()} ({human(total_bytes(dequantized_dir()))}, "
            f"{len(converted)}: {', '.join(p.name for p in converted)}); runs convert them again after a clear."
        )
