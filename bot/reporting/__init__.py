"""Reporting: the weekly digest, its chart, the quarterly data set and the case log export."""
