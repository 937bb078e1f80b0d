"""Analytics keeps no relational tables: its data lives in MongoDB (see documents.py)."""
