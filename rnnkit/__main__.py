"""``python -m rnnkit``."""

from rnnkit.cli import main

if __name__ == "__main__":
    main()
