// No basePath here: Watt gives the app `application.basePath` from watt.json.
/** @type {import('next').NextConfig} */
const nextConfig = {
  poweredByHeader: false
}

export default nextConfig
