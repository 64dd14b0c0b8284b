"""musicrec: frozen audio representations for music recommendation.

The package knows nothing about Snakemake; the workflow's scripts are thin
adapters around it. Sub-packages mirror the pipeline's stages.
"""

__version__ = "0.1.0"
