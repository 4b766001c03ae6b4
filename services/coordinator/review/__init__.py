"""Human review of a finished run (MIS-facts 3.4, step 4: experts remove
riskless, meaningless and duplicate pairs): `sheet` writes the sheet with
presigned links to the run's own images, `decisions` applies a filled-in
sheet and exports a new dataset version, `state` keeps both in the run's
durable state in the store (runs/<run>/review.json)."""
