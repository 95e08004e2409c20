"""CLI commands. Modules here import only typer and the standard library at the top;
everything heavy (pydantic, pulumi, ansible) is imported inside the command."""
