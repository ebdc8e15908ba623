public import SpateRecords
