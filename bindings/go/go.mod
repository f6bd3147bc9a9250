module pyshim

go 1.19
