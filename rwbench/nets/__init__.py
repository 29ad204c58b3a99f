"""Networks: the small embedded UNet and classifier, and checkpoint-compatible ADM and NCSN++."""
