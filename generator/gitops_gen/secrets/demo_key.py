"""The demo recipient: an age key whose private half is a test fixture, public by design.

This repository's own environments are encrypted to it so anyone can run the demo and the
tests; 'gitops-gen validate' warns when it is the only recipient outside dev, because anyone
can decrypt such a file. The private key is tests/fixtures/demo-age-key.TEST-FIXTURE-ONLY.txt.
"""

from __future__ import annotations

DEMO_RECIPIENT = "age12prr3k7zdfgyvd33mgrvqwrwhjxhgqt5pl37jmc0e08f45vu4pcsnjzhr5"
