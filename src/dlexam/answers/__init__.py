"""The exam's executable answer key: every one of its 20 questions answered by computation.

For each question: the exam's stated answer (read from the exam text), the evidence computed now,
and a verdict (``agrees``, ``partly agrees``, ``disagrees`` or ``conceptual``). ``answer_key()`` is what the CLI
(`dlexam answers`) and the HTML report call.
"""

from dlexam.answers.registry import QUESTION_IDS, VERDICTS, Answer, answer, answer_key, normalise_id

__all__ = ["QUESTION_IDS", "VERDICTS", "Answer", "answer", "answer_key", "normalise_id"]
