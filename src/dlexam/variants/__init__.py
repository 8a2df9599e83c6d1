"""New versions of the exam with verified solutions (issue 19): `dlexam variant`, `grade`, and the exports.

- :mod:`dlexam.variants.draw`: a seed's draw of Part 1's computable items, Problem 1 and Problem 2;
- :mod:`dlexam.variants.checks`: the checks that make a draw a well-posed variant;
- :mod:`dlexam.variants.build`: :func:`make_variant`, drawing until every check passes;
- :mod:`dlexam.variants.part1`, :mod:`~dlexam.variants.problem1`, :mod:`~dlexam.variants.problem2`: the
  questions, their exact answers and worked solutions (Problem 2's setting, named mistakes and Pr2.5 in
  :mod:`~dlexam.variants.problem2_setting`, :mod:`~dlexam.variants.problem2_mistakes` and
  :mod:`~dlexam.variants.problem2_gradients`);
- :mod:`dlexam.variants.documents`: Markdown and Typst/PDF;
- :mod:`dlexam.variants.grade`: the grader, which reads a file with :mod:`~dlexam.variants.submission`, each answer
  with :mod:`~dlexam.variants.reading`, and says why a wrong one is wrong with :mod:`~dlexam.variants.mistakes`;
- :mod:`dlexam.variants.exports`: PrairieLearn, Moodle XML, Canvas QTI 1.2.
"""

from dlexam.variants.build import make_variant
from dlexam.variants.model import Field, Question, Variant

__all__ = ["Field", "Question", "Variant", "make_variant"]
