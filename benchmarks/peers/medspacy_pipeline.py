"""medSpaCy's standard rule pipeline over a list of notes; run in its own venv (see setup_medspacy.sh).

    .venv-medspacy/bin/python benchmarks/peers/medspacy_pipeline.py NOTES.json TERMS.json

NOTES.json is a list of note texts; TERMS.json maps category -> target-rule literals. Prints one JSON
object: seconds to load, seconds to process, entity and section counts. The pipeline is what
medspacy.load() gives (PyRuSH sentence splitter, target matcher, ConText) plus its sectionizer,
with the same vocabulary bedside's rule layer uses as target rules, so both sides match the same terms.
"""

import json
import sys
import time

import medspacy
from medspacy.target_matcher import TargetRule


def main(notes_path: str, terms_path: str) -> None:
    notes = json.load(open(notes_path, encoding="utf-8"))
    terms = json.load(open(terms_path, encoding="utf-8"))
    t0 = time.perf_counter()
    nlp = medspacy.load()  # medspacy_pyrush, medspacy_target_matcher, medspacy_context
    nlp.add_pipe("medspacy_sectionizer")
    matcher = nlp.get_pipe("medspacy_target_matcher")
    matcher.add([TargetRule(literal, category) for category, literals in terms.items() for literal in literals])
    list(nlp.pipe(notes[:3]))  # warm-up, as on the bedside side
    t1 = time.perf_counter()
    entities = sections = negated = 0
    for doc in nlp.pipe(notes):
        entities += len(doc.ents)
        negated += sum(1 for e in doc.ents if e._.is_negated)
        sections += len(doc._.sections)
    t2 = time.perf_counter()
    print(json.dumps({
        "load_seconds": round(t1 - t0, 3), "seconds": round(t2 - t1, 3), "notes": len(notes),
        "entities": entities, "negated": negated, "sections": sections, "pipes": nlp.pipe_names,
        "target_rules": sum(len(v) for v in terms.values()), "medspacy": medspacy.__version__,
    }))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
