"""Evaluation: standard metrics for captions, classes, search and speech, and the benchmark harness.

Every function returns plain JSON-ready data; the `fabsight evaluate ...`
commands and the benchmark scripts share them.

- `captions`: BLEU-1..4, METEOR, ROUGE-L, CIDEr-D from pycocoevalcap (the COCO caption evaluation)
- `classification`: accuracy, macro-F1, per-class precision/recall, confusion matrix, ECE; multi-label presence
- `classification_files`: label files and `fabsight classify --json` output read as truth and predictions
- `retrieval`: recall@k, precision@k, mAP, MRR with trec_eval's definitions
- `speech`: WER and CER from jiwer
- `harness`: `BenchmarkTable`, the one way benchmark scripts print README tables
"""

from fabsight.evaluate.captions import CaptionOptions, evaluate_caption_files, score_captions
from fabsight.evaluate.classification import classification_scores, presence_scores, save_confusion_png
from fabsight.evaluate.classification_files import evaluate_classification_files, evaluate_classify_result
from fabsight.evaluate.harness import BenchmarkTable
from fabsight.evaluate.retrieval import evaluate_search_files, retrieval_scores
from fabsight.evaluate.speech import evaluate_speech_files, speech_scores

__all__ = ["BenchmarkTable", "CaptionOptions", "classification_scores", "evaluate_caption_files",
           "evaluate_classification_files", "evaluate_classify_result", "evaluate_search_files",
           "evaluate_speech_files", "presence_scores", "retrieval_scores", "save_confusion_png", "score_captions",
           "speech_scores"]
