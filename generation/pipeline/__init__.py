"""The diffusion generator: pure diffusers/torch code with no Django imports."""
