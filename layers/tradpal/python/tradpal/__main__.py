"""``python -m tradpal``: the ``tradpal`` command (how ``tradpal up`` starts its traders)."""

from tradpal.cli.main import main

main()
