"""`python -m townhall`: the same as the `townhall` command."""

from townhall.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
