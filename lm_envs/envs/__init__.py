"""One env family per module. Import the module you need; `import lm_envs` only registers ids."""

__all__: list[str] = []
