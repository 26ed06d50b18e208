"""`python -m orchestration.serve` (`make serve`)."""

from orchestration.serve.server import main

main()
