"""Text in, token ids out: input checks, text repair, tokenization, truncation, Jina's windows, v3's prompt.

Nothing here knows a model's weights or the machine; everything here is testable with a tokenizer alone.
"""
