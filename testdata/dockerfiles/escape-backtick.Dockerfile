# escape=`
FROM mcr.microsoft.com/windows/nanoserver AS base
WORKDIR C:\app
COPY . C:\app\
RUN dir `
    /s
