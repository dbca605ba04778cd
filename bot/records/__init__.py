"""Records: meeting records signed by both parties, and the protocols' forms as HTML and PDF."""
