module example.com/tenantguard-go

go 1.22
