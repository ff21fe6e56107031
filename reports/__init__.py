"""Reports read by people: the digest, poll results and the monthly document. Queries live in
storage; this package turns their rows into text, charts and files, for both jobs and web pages."""
