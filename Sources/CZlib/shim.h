// zlib (zlib1g-dev): gzip reading of the Fashion-MNIST IDX files, CRC-32 of checkpoints.
#include <zlib.h>
