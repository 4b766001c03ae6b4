"""MIRage: supervised safety fine-tuning of multi-image vision-language models.

`python -m trainer.train --config <preset or path> key=value ...` runs the recipe in
`trainer.train`; the modules beside it hold what the recipe needs (config, data,
backbones, checkpoints, the store) so the recipe itself reads top to bottom.
"""
