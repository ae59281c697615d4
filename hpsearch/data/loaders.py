"""The built-in loaders by name (``data.loader: digits``), as references resolved on use, so
that naming them imports none of their modules."""

LOADERS: dict[str, str] = {
    "digits": "hpsearch.data.digits:load_digits_sequences",
    "imdb": "hpsearch.data.text:load_imdb",
    "gop_tweets": "hpsearch.data.text:load_gop_tweets",
    "text_corpus": "hpsearch.data.text:load_text_corpus",
    "stock_prices": "hpsearch.data.stocks:load_stock_prices",
    "moving_pattern": "hpsearch.data.synthetic:load_moving_pattern",
}
