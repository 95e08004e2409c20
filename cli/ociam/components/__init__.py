"""Pulumi ComponentResources of the city stack (tokens ``ociam:<module>:<Type>``).

``ociam.components.city.City`` composes them; ``ociam.components.program.main``
is what ``stacks/city/__main__.py`` runs.
"""
