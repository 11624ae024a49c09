module course.local/hello

go 1.22
