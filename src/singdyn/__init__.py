"""singdyn: learning dynamics of a two-unit tanh network near its singular regions.

Importing singdyn turns on JAX's 64-bit mode: the theory side computes in float64, while
training casts to its own working precision (float32 by default, as NetTrain does).
"""

import jax

jax.config.update("jax_enable_x64", True)

__version__ = "0.1.0"
