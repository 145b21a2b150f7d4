"""`fabsight evaluate ...` commands."""

COMMANDS: tuple = ()
