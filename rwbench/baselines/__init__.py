"""Native samplers written from their original papers, independent of the random-walk template."""
