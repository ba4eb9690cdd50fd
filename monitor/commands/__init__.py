"""The sub-commands of ``liqmon`` that belong to no single part of the pipeline."""
