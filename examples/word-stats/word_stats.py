"""Word statistics of every text file (*.txt) under /input: /out/stats.json and /out/words.csv.

/input is the job's data layer (`modicum job run … --input DIR`). Per file: lines, words, distinct
words, hapax legomena, type-token ratio, word and sentence lengths, its most frequent words and
its most characteristic ones (tf-idf against the other files). Over the corpus: the same totals,
the most frequent words, the word-length histogram and the Zipf exponent of the rank-frequency
curve. words.csv lists every word with its count, rank and the number of files it occurs in.

Deterministic: files are read in sorted order, every tie is broken by the word itself and floats
are rounded, so every honest run writes the same bytes (stdout included).
"""

import collections
import csv
import hashlib
import io
import json
import math
import os
import re
import statistics
import sys

INPUT, OUT = "/input", "/out"
WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)")
TOP = 15


def ranked(counts, n=None):
    """(word, count) by count, most first, ties alphabetically."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:n]


def rounded(x):
    return round(x, 4)


def text_files(root):
    for directory, subdirectories, files in os.walk(root):
        subdirectories.sort()
        for name in sorted(files):
            if name.endswith(".txt"):
                path = os.path.join(directory, name)
                yield os.path.relpath(path, root), path


def describe(words, text):
    counts = collections.Counter(words)
    lengths = [len(word) for word in words]
    sentences = [s for s in SENTENCE_END.split(text) if WORD.search(s.lower())]
    sentence_words = [len(WORD.findall(s.lower())) for s in sentences]
    return counts, {
        "lines": text.count("\n"),
        "words": len(words),
        "distinct_words": len(counts),
        "hapax_legomena": sum(1 for c in counts.values() if c == 1),
        "type_token_ratio": rounded(len(counts) / len(words)) if words else 0,
        "mean_word_length": rounded(statistics.fmean(lengths)) if lengths else 0,
        "median_word_length": statistics.median(lengths) if lengths else 0,
        "longest_word": min(words, key=lambda w: (-len(w), w)) if words else "",
        "sentences": len(sentences),
        "mean_sentence_words": rounded(statistics.fmean(sentence_words)) if sentence_words else 0,
        "top_words": [[w, c] for w, c in ranked(counts, TOP)],
    }


def zipf_exponent(counts):
    """-slope of log(frequency) against log(rank) over the 200 most frequent words."""
    frequencies = [c for _, c in ranked(counts, 200)]
    if len(frequencies) < 3:
        return None
    x = [math.log(rank) for rank in range(1, len(frequencies) + 1)]
    y = [math.log(c) for c in frequencies]
    slope, _ = statistics.linear_regression(x, y)
    return rounded(-slope)


def main():
    if not os.path.isdir(INPUT):
        print("no /input: run this job with a data layer (modicum job run … --input DIR)", file=sys.stderr)
        sys.exit(2)
    files, per_file = {}, {}
    corpus_words = []
    for name, path in text_files(INPUT):
        with open(path, "rb") as f:
            data = f.read()
        text = data.decode("utf-8", errors="replace")
        words = WORD.findall(text.lower())
        counts, stats = describe(words, text)
        stats = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), **stats}
        files[name], per_file[name] = stats, counts
        corpus_words += words
    if not files:
        print("no *.txt file under /input", file=sys.stderr)
        sys.exit(2)

    documents = collections.Counter(word for counts in per_file.values() for word in counts)
    for name, counts in per_file.items():
        total = sum(counts.values())
        tf_idf = {w: (c / total) * math.log(len(files) / documents[w]) for w, c in counts.items()}
        files[name]["characteristic_words"] = [[w, rounded(s)] for w, s in ranked(tf_idf, 8) if s > 0]

    corpus_counts, corpus = describe(corpus_words, "")
    del corpus["lines"], corpus["sentences"], corpus["mean_sentence_words"]
    lengths = collections.Counter(len(w) for w in corpus_words)
    corpus.update({
        "files": len(files),
        "bytes": sum(f["bytes"] for f in files.values()),
        "lines": sum(f["lines"] for f in files.values()),
        "sentences": sum(f["sentences"] for f in files.values()),
        "words_in_every_file": sorted(w for w, d in documents.items() if d == len(files)),
        "word_lengths": [[n, lengths[n]] for n in sorted(lengths)],
        "zipf_exponent": zipf_exponent(corpus_counts),
    })

    os.makedirs(OUT, exist_ok=True)
    report = json.dumps({"corpus": corpus, "files": files}, indent=1, sort_keys=True, ensure_ascii=False)
    # Each [word, count] pair on one line.
    report = re.sub(r'\[\s+("(?:[^"\\]|\\.)*"|-?[\d.]+),\s+(-?[\d.e-]+)\s+\]', r"[\1, \2]", report)
    with open(os.path.join(OUT, "stats.json"), "w", encoding="utf-8", newline="\n") as f:
        f.write(report + "\n")
    table = io.StringIO(newline="")
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["rank", "word", "count", "files"])
    for rank, (word, count) in enumerate(ranked(corpus_counts), 1):
        writer.writerow([rank, word, count, documents[word]])
    with open(os.path.join(OUT, "words.csv"), "w", encoding="utf-8", newline="") as f:
        f.write(table.getvalue())

    print(f"word-stats: {len(files)} files, {corpus['words']} words, {corpus['distinct_words']} distinct, "
          f"Zipf exponent {corpus['zipf_exponent']}")
    for name, stats in files.items():
        print(f"  {name}: {stats['words']} words, most characteristic: "
              + ", ".join(w for w, _ in stats["characteristic_words"][:3]))
    print("top words: " + ", ".join(f"{w} {c}" for w, c in ranked(corpus_counts, 10)))


if __name__ == "__main__":
    main()
