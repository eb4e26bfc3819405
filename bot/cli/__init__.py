"""``pickloop``: the terminal front end, one module per group of commands.

``root`` holds the typer application and the entry point; ``common`` the helpers every
command shares."""
