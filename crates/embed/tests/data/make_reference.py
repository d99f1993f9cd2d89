"""Reference vectors for crates/embed/tests/reference.rs, computed once with the Python
sentence-transformers package (torch, CPU) from the same model folder semtrace loads:

    python -m venv /tmp/ref && /tmp/ref/bin/pip install sentence-transformers
    /tmp/ref/bin/python crates/embed/tests/data/make_reference.py models/all-MiniLM-L6-v2 > crates/embed/tests/data/reference.json
"""
import json
import sys

from sentence_transformers import SentenceTransformer

TEXTS = [
    "database connection timeout errors",
    "checkout-service client span \"SELECT orders\" failed: dial tcp <ip>: i/o timeout",
    "HikariPool-1 - Connection is not available, request timed out after <num>ms.",
    "payment declined",
    "",
    "A much longer sentence " + "that repeats itself to pass the two hundred and fifty six token limit " * 30,
]

model = SentenceTransformer(sys.argv[1], device="cpu")
vectors = model.encode(TEXTS, normalize_embeddings=False)
json.dump(
    {
        "model": "all-MiniLM-L6-v2",
        "sentence_transformers": __import__("sentence_transformers").__version__,
        "cases": [{"text": t, "vector": [round(float(x), 7) for x in v]} for t, v in zip(TEXTS, vectors)],
    },
    sys.stdout,
)
