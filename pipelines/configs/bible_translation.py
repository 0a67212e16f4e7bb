"""English->French on Bible verses (World English Bible / Louis Segond), split by book.

Command: python -m pipelines.train_translation --config=bible_translation --workdir=workdir/bible
About 25 minutes on 2 CPU cores; BLEU on held-out books is in README.
"""

from .translation import TranslationConfig


def get_config():
    return TranslationConfig(
        dataset="bible_en_fr", train_size=0, eval_size=500, vocab_size=8000, max_length=64,
        num_layers=2, hidden_dim=256, num_heads=4, intermediate_dim=1024, dropout=0.1,
        learning_rate_scale=1.0, warmup_steps=300, batch_size=64, train_steps=800,
        checkpoint_every=500, log_every=100,
    )
