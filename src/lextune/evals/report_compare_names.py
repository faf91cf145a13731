"""Plain words for the comparison report: what each metric, task kind and answer view is called.

The report is read by lawyers as well as engineers, so every metric key a task emits gets a short
name and a one-line meaning here (the raw key stays available as a tooltip). Kept apart from the
rendering so that adding a metric means editing one table.
"""

from __future__ import annotations

# Plain names for the metrics a partner meets: (short name, what it means); the raw key is the tooltip.
METRIC_NAMES = {
    "accuracy": ("accuracy", "share of answers that are right"),
    "balanced_accuracy": ("balanced accuracy", "accuracy averaged over the classes: a rare one counts"),
    "macro_f1": ("macro F1", "F1 averaged over the labels"),
    "f1": ("F1", "balance of precision and recall"),
    "precision": ("precision", "share of the model's answers that are right"),
    "recall": ("recall", "share of the right answers the model found"),
    "not_found_accuracy": ("\u201cNot found\u201d accuracy", "clause absent and the model says so"),
    "mean_jaccard": ("word overlap", "mean Jaccard overlap of the quoted words with the gold clause"),
    "kl": ("KL from base", "drift from the base model, nats per token; 0 = identical"),
    "citation_precision": ("citation precision", "cited passages that support the answer"),
    "citation_recall": ("citation recall", "supporting passages that are cited"),
    "exact_match": ("exact match", "answer identical to the gold answer"),
    "overlap_f1": ("quote F1", ("balance of precision and recall; a quote counts when its words overlap the "
                   "gold clause's with token F1 of at least 0.5")),
    "overlap_precision": ("quote precision", "share of the model's quotes that match a gold clause"),
    "overlap_recall": ("quote recall", "share of the gold clauses the model quoted"),
    "exact_f1": ("exact quote F1", "as quote F1, counting only word-for-word quotes"),
    "exact_precision": ("exact quote precision", "share of quotes identical to a gold clause"),
    "exact_recall": ("exact quote recall", "share of gold clauses quoted word for word"),
    "mean_token_f1": ("mean word overlap", "token F1 of the quote with the best gold clause, averaged"),
    "mean_exact_match": ("exact matches", "share of clauses quoted word for word"),
    "aupr": ("AUPR", "area under the precision-recall curve, quotes ranked by the model's confidence"),
    "precision_at_80_recall": ("precision at 80% recall", "precision once 80% of the gold clauses are found"),
    "citation_f1": ("citation F1", "balance of citation precision and recall"),
    "answer_token_f1": ("answer word overlap", "token F1 of the answer with the reference answer"),
    "nli_label_accuracy": ("verdict accuracy", "entailed / contradicted / not mentioned, right"),
    "not_found_on_answerable": ("wrongly \u201cnot found\u201d", "says not found when the answer is there"),
    "invented_citation_rate": ("invented citations", "share of claims citing a passage that does not say so"),
    "invalid_citation_rate": ("invalid citations", "share of claims citing a passage that was not shown"),
    "unsupported_quote_rate": ("unsupported quotes", "share of quotes not found in the passage they cite"),
    "rouge_l": ("ROUGE-L", "longest common word sequence with the reference answer"),
    "kl_max": ("largest KL", "the prompt where B drifts most from the base model, nats per token"),
    "kl_median": ("median KL", "nats per token"),
    "unreadable": ("unreadable answers", "answers that name no label"),
    "answerable": ("answerable", "examples whose answer is in the text"),
    "unanswerable": ("unanswerable", "examples whose answer is not in the text"),
    "quotes_given": ("quotes given", ""),
    "citations_made": ("citations made", ""),
    "citation_claims": ("claims with citations", ""),
    "accuracy_norm": ("accuracy, length-normalised", ("each choice scored per token, so long options are not "
                      "penalised for their length")),
    "n": ("examples", ""),
    "tp": ("right quotes", "true positives"),
    "fp": ("wrong quotes", "false positives: a quote where there is none, or the wrong text"),
    "fn": ("missed clauses", "false negatives: a clause there that the model did not quote"),
    "tn": ("right \u201cnone\u201d", "true negatives"),
    "support": ("examples", ""),
}
KIND_NAMES = {
    "span": "finding clauses in contracts",
    "classification": "classification",
    "multiple_choice": "multiple choice",
    "cited_qa": "questions answered with citations",
    "forgetting": "general behaviour (forgetting)",
}

# How a classification task read the model's answer, for the notes under its charts.
VIEW_NAMES = {"loglik": "the answer choice the model found most likely",
              "generation": "the label named in the model's written answer"}


def metric_name(key: str) -> str:
    """Short plain name: "loglik.balanced_accuracy" -> "balanced accuracy (loglik)"."""
    head, _, last = key.rpartition(".")
    name = METRIC_NAMES.get(last, (last.replace("_", " "), ""))[0]
    return f"{name} ({head.replace('_', ' ')})" if head else name


def metric_help(key: str) -> str:
    return METRIC_NAMES.get(key.rpartition(".")[2], ("", ""))[1]
