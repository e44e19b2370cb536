"""`python -m lfmcli ...` runs the lfm command (handy under torchrun: `torchrun --nproc_per_node 8 -m lfmcli train`)."""

from .cli.main import app

app()
