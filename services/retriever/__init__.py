"""The retriever service: real photos per object from an indexed corpus (MIS-real)."""
