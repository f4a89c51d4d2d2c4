"""The multilingual example from the jina-reranker-v2-base-multilingual model card."""

from __future__ import annotations

MODEL_CARD_QUERY = "Organic skincare products for sensitive skin"

MODEL_CARD_DOCUMENTS = [
    "Organic skincare for sensitive skin with aloe vera and chamomile.",
    "New makeup trends focus on bold colors and innovative techniques",
    "Bio-Hautpflege für empfindliche Haut mit Aloe Vera und Kamille",
    "Neue Make-up-Trends setzen auf kräftige Farben und innovative Techniken",
    "Cuidado de la piel orgánico para piel sensible con aloe vera y manzanilla",
    "Las nuevas tendencias de maquillaje se centran en colores vivos y técnicas innovadoras",
    "针对敏感肌专门设计的天然有机护肤产品",
    "新的化妆趋势注重鲜艳的颜色和创新的技巧",
    "敏感肌のために特別に設計された天然有機スキンケア製品",
    "新しいメイクのトレンドは鮮やかな色と革新的な技術に焦点を当てています",
]

# compute_score(pairs, max_length=1024) as printed on the model card (official bf16 weights).
MODEL_CARD_SCORES = [
    0.8311430811882019,
    0.09401018172502518,
    0.6334102749824524,
    0.08269733935594559,
    0.7620701193809509,
    0.09947021305561066,
    0.9263036847114563,
    0.05834583938121796,
    0.8418256044387817,
    0.11124119907617569,
]
