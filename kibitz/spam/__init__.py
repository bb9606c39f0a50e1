"""Spam scoring on our own machine (issue 13; docs/moderation.md#spam-scoring): no third party is asked.

- ``features``: what is read off a comment (links, folded words, hashed features), once per post;
- ``classifier``: naive Bayes over those features, from the shipped base model (``base_model.bin``,
  trained on bench/spam_corpus by ``python -m bench.spam_corpus.make``) plus each site's decisions;
- ``signals``: links, look-alike/invisible/styled characters, contact details, advertising names;
- ``shingles``: near-duplicate sketches and the index of each site's recent comments;
- ``engine``: the per-process state, the assessment guard.screen() combines, and learning from
  moderators' decisions (moderation.py).
"""
