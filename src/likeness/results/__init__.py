"""Results: summaries with confidence intervals, paired comparisons, tables, citations,
the methods paragraph and the HTML report."""
