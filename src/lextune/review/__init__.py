"""The review loop's producers: which served outputs go to the lawyers' queue (core/tables_review.py).

policy.py decides per scope (a sampled share, and everything below a confidence); candidates.py is the
record a producer hands over and the one function that writes it; from_answers.py and from_analysis.py turn a
cited answer and a contract analysis into candidates. The privilege pipeline enqueues its own calls.
"""
