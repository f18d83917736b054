"""Vietnamese data rules: plain Python, no Flask, no database.

Text (encodings, normalisation, folding), personal ID numbers, dates, money, banks.
"""
