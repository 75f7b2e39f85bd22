"""`python -m autotiny.blob`: print the supported-ops table of firmware/README.md from the op table."""

from autotiny.blob.ops import markdown_table

print(markdown_table(), end="")
